"""The command-line layer: click commands that parse, call one function, and render."""
