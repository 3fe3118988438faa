"""Refuse a bake whose answers cannot give a working project, before anything is written.

The prompts already run the same check (local_extensions.py); this hook is the
guard for bakes that skip prompting, such as `cookiecutter --replay`.
"""

import importlib.util
import json
import sys


def load_ids(path):
    """Import ids.py, the generated package's pure naming rules, from the template tree."""
    spec = importlib.util.spec_from_file_location("mlstarter_ids", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(answers, ids_path):
    problems = load_ids(ids_path).check_answers(answers)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    CONTEXT = json.loads(r"""{{ {"answers": cookiecutter, "ids_path": ids_path} | tojson }}""")
    sys.exit(main(CONTEXT["answers"], CONTEXT["ids_path"]))
