/* The seccomp filter every command runs under (see command-filter.c). */
#ifndef AF_COMMAND_FILTER_H
#define AF_COMMAND_FILTER_H

/* Builds the filter once, in the runner; 0 on success. */
int command_filter_build(void);

/* Puts the filter on the calling process (a forked child, before execve); 0 on success. */
int command_filter_apply(void);

#endif
