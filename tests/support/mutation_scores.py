"""The scores of `make mutation`: for each module mutmut mutated, how many of its mutants a test noticed.

Reads what `mutmut run` left in `mutants/`: each module's `.meta` (every mutant's exit code) and the
mutated module itself, whose mutant functions are compared with the original. A mutant that changes
nothing but the text of a string (a message) is left out of the score, as the issue that asked for
the scores says; a mutant no test reaches counts as survived; one that was not run yet (a run cut short)
is counted apart and left out of the score.

    python -m tests.support.mutation_scores [--write docs/mutation.md] [--survivors]
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
SURVIVED, NO_TESTS = 0, 33  # mutmut's exit codes: the tests passed with the mutant in, or none reaches it


def _without_strings(node: ast.AST) -> str:
    """The function's code with every string emptied and its name removed: equal for a message-only mutant."""
    copy = ast.parse(ast.unparse(node))
    for child in ast.walk(copy):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            child.value = ""
        if isinstance(child, ast.FunctionDef):
            child.name = "_"
    return ast.dump(copy)


def _message_only(mutated: pathlib.Path) -> set[str]:
    """The names of the mutants in `mutated` that change only the text of strings."""
    functions = {
        node.name: node for node in ast.walk(ast.parse(mutated.read_text())) if isinstance(node, ast.FunctionDef)
    }
    found = set()
    for name, node in functions.items():
        base, _, number = name.rpartition("__mutmut_")
        if number.isdigit() and (original := functions.get(f"{base}__mutmut_orig")) is not None:
            if _without_strings(node) == _without_strings(original):
                found.add(name)
    return found


def scores(mutants: pathlib.Path) -> list[dict]:
    """One row per mutated module: mutants, message-only ones, killed, survived (their names) and the score."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    rows = []
    for path in settings["only_mutate"]:
        meta = json.loads((mutants / f"{path}.meta").read_text())["exit_code_by_key"]
        messages = _message_only(mutants / path)
        kept = {key: code for key, code in meta.items() if key.rpartition(".")[2] not in messages}
        counted = {key: code for key, code in kept.items() if code is not None}
        survived = sorted(key for key, code in counted.items() if code in (SURVIVED, NO_TESTS))
        killed = len(counted) - len(survived)
        rows.append(
            {
                "module": path,
                "mutants": len(meta),
                "message_only": len(meta) - len(kept),
                "not_run": len(kept) - len(counted),
                "killed": killed,
                "survived": survived,
                "score": 100.0 * killed / len(counted) if counted else 100.0,
            }
        )
    return rows


def markdown(rows: list[dict], survivors: bool) -> str:
    lines = [
        "| module | mutants | message-only (left out) | not run | killed | survived | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| `{row['module']}` | {row['mutants']} | {row['message_only']} | {row['not_run']} | {row['killed']} | "
            f"{len(row['survived'])} | {row['score']:.1f}% |"
        )
    if survivors:
        for row in rows:
            lines += ["", f"Survivors in `{row['module']}`:", *(f"- `{name}`" for name in row["survived"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", default=str(ROOT / "mutants"))
    parser.add_argument("--write", help="a Markdown file to write the table into, between its markers")
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants by name")
    arguments = parser.parse_args()
    table = markdown(scores(pathlib.Path(arguments.mutants)), arguments.survivors)
    print(table, end="")
    if arguments.write:
        target = pathlib.Path(arguments.write)
        head, _, rest = target.read_text().partition("<!-- scores -->\n")
        _, _, tail = rest.partition("<!-- /scores -->\n")
        target.write_text(f"{head}<!-- scores -->\n{table}<!-- /scores -->\n{tail}")


if __name__ == "__main__":
    main()
