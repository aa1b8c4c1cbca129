"""Typer CLI: option parsing and output only; each command calls one library function.

Command modules import the library inside the command functions (function-level imports on
purpose): ``xal --help`` then loads only Typer and the option declarations, well under 0.3 s.
"""
