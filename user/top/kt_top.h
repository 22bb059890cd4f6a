/* SPDX-License-Identifier: MIT */
/*
 * kaos-trace top: a live full-screen view of the traced rings (the engine's
 * third driver, beside the one-shot CLI and the daemon). kt_top.c owns the
 * options, the loop and the keys; kt_top_model.c what is shown;
 * kt_top_view.c the drawing. Without a terminal on stdout it prints one
 * plain-text block per refresh instead.
 */
#ifndef KT_TOP_H
#define KT_TOP_H

/* `kaos-trace top ARGS` (argv[0]: the command's name for argp). Returns the exit status. */
int kt_top_main(int argc, char **argv);

#endif /* KT_TOP_H */
