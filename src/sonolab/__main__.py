"""`python -m sonolab ...` runs the `sonolab` command (also how Lightning's DDP launcher re-runs it)."""

from sonolab.cli import main

if __name__ == "__main__":
    main()
