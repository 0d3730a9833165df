"""argparse types shared by the management commands."""


def positive_int(value: str) -> int:
    """A whole number >= 1 (argparse turns the ValueError into a usage error)."""
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number
