"""Finish a mutation run against each module's own test files: every mutant `mutmut run` left untried (or, with
--survivors, every survivor; message-only mutants are left alone) is run with `MUTANT_UNDER_TEST` against the
files below, stopping at the first failure, two at a time, and its result is written into mutmut's records, so
that `mutation_scores` counts it.

mutmut runs each mutant against every test that reaches its function, which for a function every request
passes through is the whole in-process suite: about a minute a survivor on two cores. These files are the ones
written for each module, so a mutant that survives them may still be one another test would kill: the
recheck can only understate a score.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys

from tests.support.mutation_scores import _message_only
from tests.support.servers import ROOT

API, UNIT = "tests/api/test_", "tests/unit/test_"
TEST_FILES = {
    "access": [
        "access",
        "security",
        "guard_surfaces",
        "stored_tokens",
        "signed_in_users",
        "limits_and_usage",
        "sessions_api",
        "admin",
        "openai_compat",
    ],
    "credentials": [
        "access",
        "security",
        "fallbacks_and_client_keys",
        "guard_surfaces",
        "sessions_api",
        "openai_compat",
    ],
    "identity": ["signed_in_users"],
    "model_policy": ["stored_tokens", "fallbacks_and_client_keys"],
    "ownership": ["security", "responses_api", "resumable_streams", "sessions_api", "access", "traces"],
    "rate_limits": [
        "token_budget",
        "budget_accounting",
        "limits_and_usage",
        "security",
        "stored_tokens",
        "alerts",
        "admin",
    ],
    "spend_limits": ["spend", "budget_accounting", "fallbacks_and_client_keys", "alerts"],
    "routing": [
        "upstream_rests",
        "upstreams",
        "fallbacks_and_client_keys",
        "openai_compat",
        "service_info",
        "info",
        "access",
        "ask",
        "sessions_api",
        "operate",
    ],
}
UNIT_FILES = {
    "ownership": ["guard_inputs"],
    "rate_limits": ["rate_limit_refusals", "settlement_outage"],
    "spend_limits": ["guard_inputs"],
    "routing": ["rest_lengths", "models"],
}


def files_of(module: str) -> list[str]:
    return [f"{UNIT}{name}.py" for name in UNIT_FILES.get(module, [])] + [
        f"{API}{name}.py" for name in TEST_FILES[module]
    ]


def _run(mutants: pathlib.Path, files: list[str], mutant: str) -> int:
    """0 when the mutant survived `files`, else the code that says it was killed."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow"]
    environment = {**os.environ, "MUTANT_UNDER_TEST": mutant}
    try:
        done = subprocess.run([*command, *files], cwd=mutants, env=environment, capture_output=True, timeout=600)
    except subprocess.TimeoutExpired:
        return 36  # mutmut's code for a mutant that made the tests time out: killed
    return 0 if done.returncode in (0, 5) else done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", default=str(ROOT / "mutants"))
    parser.add_argument("--survivors", action="store_true", help="run the survivors again too")
    parser.add_argument(
        "--whole-suite", action="store_true", help="against tests/unit and tests/api, as mutmut would (slower)"
    )
    parser.add_argument("modules", nargs="*", help="only these modules (rate_limits, routing, ...), in this order")
    arguments = parser.parse_args()
    mutants = pathlib.Path(arguments.mutants)
    wanted = (None, 0, 33) if arguments.survivors else (None,)
    paths = {path.name.removesuffix(".py.meta"): path for path in sorted(mutants.glob("chatgate/**/*.meta"))}
    for module in arguments.modules or list(paths):
        meta_path = paths[module]
        meta = json.loads(meta_path.read_text())
        messages = _message_only(meta_path.with_suffix(""))
        todo = [
            key
            for key, code in meta["exit_code_by_key"].items()
            if code in wanted and key.rpartition(".")[2] not in messages
        ]
        files = ["tests/unit", "tests/api"] if arguments.whole_suite else files_of(module)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = pool.map(_run, [mutants] * len(todo), [files] * len(todo), todo)
            for key, code in zip(todo, results, strict=True):
                meta["exit_code_by_key"][key] = code
                meta_path.write_text(json.dumps(meta))
        print(f"{module}: {len(todo)} run", flush=True)


if __name__ == "__main__":
    main()
