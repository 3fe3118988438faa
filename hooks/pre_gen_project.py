"""Refuse a bake whose answers cannot give a working project, before anything is written.

The prompts already run the same check (local_extensions.py); this hook is the
guard for bakes that skip prompting, such as `cookiecutter --replay`. Both use
answers.py at the template's root.
"""

import json
import sys


def main(given, template_dir):
    sys.path.insert(0, template_dir)
    import answers  # the template root's rules: hooks run from a temp file, so not beside it

    return answers.report(answers.check_answers(given))


if __name__ == "__main__":
    CONTEXT = json.loads(r"""{{ {"answers": cookiecutter, "template_dir": template_dir} | tojson }}""")
    sys.exit(main(CONTEXT["answers"], CONTEXT["template_dir"]))
