/* cli_ref.h — the commands that bridge to the reference code's runs (engine/refrun.h):
 * `import` (a main.py checkpoint into a spanscope checkpoint), `export-reference` (the other
 * way), `reference-command` (main.py's command line for a checkpoint's configuration) and
 * `follow` (a checkpoint rewritten by a run elsewhere, one line per new version). */
#pragma once

/* argv[0] is the command's program name ("spanscope-cli import"). Each returns the exit
 * status. */
int spn_cli_import(int argc, char **argv);
int spn_cli_export_reference(int argc, char **argv);
int spn_cli_reference_command(int argc, char **argv);
int spn_cli_follow(int argc, char **argv);
