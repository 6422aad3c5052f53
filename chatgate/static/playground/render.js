// Replies are markdown from a model, so untrusted: they become HTML only through DOMPurify, and the page's
// Content-Security-Policy stops whatever might slip past it.
marked.use({ gfm: true });
hljs.configure({ ignoreUnescapedHTML: true });

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

function copyButton(code) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = "Copy";
  button.setAttribute("aria-label", "Copy the code");
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(code.textContent.replace(/\n$/, ""));
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return button;
}

// Beyond scripts, a reply may not bring forms or styles: a fake "enter your token" box is phishing.
const SANITIZE = { FORBID_TAGS: ["form", "input", "button", "textarea", "select", "style"], FORBID_ATTR: ["style"] };

function renderMarkdown(element, text) {
  element.innerHTML = DOMPurify.sanitize(marked.parse(text).trim(), SANITIZE);
  for (const code of element.querySelectorAll("pre > code")) {
    hljs.highlightElement(code);
    const pre = code.parentElement;
    const block = document.createElement("div");
    block.className = "code-block";
    pre.replaceWith(block);
    block.append(pre, copyButton(code));
  }
}

// A streamed reply changes many times a second; it is drawn at most once a frame, with its latest text.
const drawing = new WeakMap();

function drawNow(element) {
  if (!drawing.has(element)) return;
  renderMarkdown(element, drawing.get(element));
  drawing.delete(element);
}

function showMarkdown(element, text) {
  const scheduled = drawing.has(element);
  drawing.set(element, text);
  if (!scheduled) requestAnimationFrame(() => drawNow(element));
}
