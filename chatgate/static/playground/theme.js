// Light and dark, alike on every page: the choice is kept in this browser, else the system's is followed. A page
// calls followTheme() once, with what to do after each switch if anything (a chart redraws in the new colours).
"use strict";

function followTheme(afterSwitch) {
  const button = document.getElementById("theme");
  const show = (theme) => {
    document.documentElement.dataset.theme = theme;
    button.setAttribute("aria-pressed", String(theme === "dark"));
    button.textContent = theme === "dark" ? "Light mode" : "Dark mode";
  };
  button.addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem("playground.theme", next);
    show(next);
    afterSwitch?.();
  });
  show(localStorage.getItem("playground.theme")
    ?? (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
}
