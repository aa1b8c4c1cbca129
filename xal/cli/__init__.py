"""Typer CLI: option parsing and output only; each command calls one library function."""
