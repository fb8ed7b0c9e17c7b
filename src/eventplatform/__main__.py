"""``python -m eventplatform`` (used by the schema git hook when the console script is not on PATH)."""

from eventplatform.cli.main import main

if __name__ == "__main__":
    main()
