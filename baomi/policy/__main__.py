"""`python -m baomi.policy`: rewrite the generated tables in docs/access-matrix.md.

Run from the repository root after changing `baomi.policy.matrix.MATRIX`.
"""

from pathlib import Path

from baomi.policy.matrix import replace_generated


def main() -> None:
    """Regenerate the matrix section of docs/access-matrix.md in place."""
    path = Path("docs/access-matrix.md")
    path.write_text(replace_generated(path.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
