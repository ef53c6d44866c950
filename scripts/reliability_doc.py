"""Write the figures scripts/reliability collected into docs/reliability.md (run that script)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts._benchdoc import machine_line, replace_section  # noqa: E402


def main() -> None:
    lines = [json.loads(x) for x in Path(sys.argv[1]).read_text().splitlines() if x.strip()]
    rows = []
    for fig in sorted(lines, key=lambda f: f["test"]):
        test = fig.pop("test")
        values = ", ".join(f"{k} {json.dumps(v)}" for k, v in fig.items())
        rows.append(f"| `{test}` | {values} |")
    body = (
        f"{machine_line()}\n\nCommand: `scripts/reliability` (every test in tests/reliability, "
        "the slow ones included).\n\n| test | figures |\n|---|---|\n" + "\n".join(rows) + "\n"
    )
    replace_section(REPO / "docs" / "reliability.md", "figures", "Figures (latest run)", body)
    print(f"docs/reliability.md: {len(rows)} tests' figures written")


if __name__ == "__main__":
    main()
