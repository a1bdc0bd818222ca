from rsdsva.cli import cli

cli(prog_name="rsdsva")
