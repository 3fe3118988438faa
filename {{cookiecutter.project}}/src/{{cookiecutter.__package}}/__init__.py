"""A project made by mlstarter: `python -m <package> --help` lists its commands."""
