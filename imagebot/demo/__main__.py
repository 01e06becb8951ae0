"""``python -m imagebot.demo``: the same as ``imagebot demo``."""

from imagebot.cli.cmd_demo import command

if __name__ == "__main__":
    command(prog_name="python -m imagebot.demo")
