// SPDX-License-Identifier: MIT
/* kt_compare: `kaos-trace compare`, interleaved traced runs of two commands, diffed (kt_compare.h).
 */
#include "kt_compare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt_diff.h"
#include "kt_diff_cmd.h"

#define MAX_ROUNDS 1000

struct compare_args {
	unsigned int rounds;
	bool json;
	const char *gate;
	char **opts; /* the tracer's options, in order */
	int nopts;
	char **cmd[2]; /* CMD_A, CMD_B */
	int ncmd[2];
};

static const char usage[] = "usage: kaos-trace compare [OPTIONS] -- CMD_A ... ::: CMD_B ...";

/* Set by the handler: the signal that asks compare to stop (0: none). */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* --rounds N or --rounds=N at argv[*i] (*i moves past a separate value); 0 or -EINVAL. */
static int parse_rounds(int argc, char **argv, int *i, struct compare_args *a, char *msg, size_t n)
{
	const char *arg = argv[*i], *v = arg[8] == '=' ? arg + 9 : *i + 1 < argc ? argv[++*i] : "";
	char *end;
	unsigned long r;

	errno = 0;
	r = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || r < 1 || r > MAX_ROUNDS) {
		snprintf(msg, n, "invalid --rounds '%s' (a number of rounds, 1 to %d)", v,
			 MAX_ROUNDS);
		return -EINVAL;
	}
	a->rounds = (unsigned int)r;
	return 0;
}

/* The options before "--": compare's own, the rest go to the tracer. Returns the index of "--". */
static int parse_options(int argc, char **argv, struct compare_args *a, char *msg, size_t n)
{
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "--"))
			return i;
		if (!strcmp(arg, "--json")) {
			a->json = true;
		} else if (!strcmp(arg, "--rounds") || !strncmp(arg, "--rounds=", 9)) {
			if (parse_rounds(argc, argv, &i, a, msg, n))
				return -EINVAL;
		} else if (!strcmp(arg, "--fail-if-slower") ||
			   !strncmp(arg, "--fail-if-slower=", 17)) {
			double pct;
			int qi;

			a->gate = arg[16] == '=' ? arg + 17 : i + 1 < argc ? argv[++i] : "";
			if (kt_diff_parse_gate(a->gate, &pct, &qi, msg, n))
				return -EINVAL;
		} else {
			a->opts[a->nopts++] = argv[i];
		}
	}
	snprintf(msg, n, "%s (no -- before the commands)", usage);
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct compare_args *a, char *msg, size_t n)
{
	int side = 0, dashdash = parse_options(argc, argv, a, msg, n);

	if (dashdash < 0)
		return -EINVAL;
	for (int i = dashdash + 1; i < argc; i++) {
		if (strcmp(argv[i], ":::")) {
			if (!a->cmd[side])
				a->cmd[side] = &argv[i];
			a->ncmd[side]++;
		} else if (side) {
			snprintf(msg, n, "compare: more than one ':::' (%s)", usage);
			return -EINVAL;
		} else {
			side = 1;
		}
	}
	if (!side)
		snprintf(msg, n, "compare: no ':::' between CMD_A and CMD_B (%s)", usage);
	else if (!a->ncmd[0] || !a->ncmd[1])
		snprintf(msg, n, "compare: %s is empty (%s)", a->ncmd[0] ? "CMD_B" : "CMD_A",
			 usage);
	return side && a->ncmd[0] && a->ncmd[1] ? 0 : -EINVAL;
}

/* Keeps the line in buf (up to its newline) in line: its start says what failed. */
static void keep_line(char *line, size_t n, const char *buf, size_t len)
{
	if (len >= n)
		len = n - 1;
	memcpy(line, buf, len);
	line[len] = '\0';
}

/*
 * What a failed run said last, from its stderr log: the command's last line
 * and the tracer's ("kaos-trace: ..."), e.g. "prog: bad argument (kaos-trace:
 * command exited with status 2)".
 */
static void last_words(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	char buf[512], cmd[256] = "", tracer[256] = "";

	while (f && fgets(buf, sizeof(buf), f)) {
		size_t len = strcspn(buf, "\n");

		if (len && !strncmp(buf, "kaos-trace: ", 12))
			keep_line(tracer, sizeof(tracer), buf, len);
		else if (len)
			keep_line(cmd, sizeof(cmd), buf, len);
	}
	if (f)
		fclose(f);
	if (cmd[0] && tracer[0])
		snprintf(out, n, "%s (%s)", cmd, tracer);
	else
		snprintf(out, n, "%s", cmd[0] ? cmd : tracer[0] ? tracer : "(no output)");
}

/*
 * The child: its own process group, stdin and stdout (the tracer's report,
 * the command's output) on /dev/null, stderr to the log; never returns.
 */
static void exec_run(const char *exe, char **argv, const char *log)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	setpgid(0, 0);
	if (fd < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0 ||
	    dup2(null, STDIN_FILENO) < 0)
		_exit(127);
	execv(exe, argv);
	_exit(127);
}

/* Runs one traced command to its end; its wait status, or -errno. */
static int run_traced(const char *exe, char **argv, const char *log)
{
	int ws, sent = 0;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (!pid)
		exec_run(exe, argv, log);
	setpgid(pid, pid); /* also here: no window in which a signal finds no group */
	for (;;) {
		if (stop_signal && !sent) {
			kill(-pid, stop_signal); /* the tracer and its command */
			sent = 1;
		}
		if (waitpid(pid, &ws, 0) == pid)
			return ws;
		if (errno != EINTR)
			return -errno;
	}
}

static void describe_status(int ws, char *b, size_t n)
{
	if (ws < 0)
		snprintf(b, n, "%s", strerror(-ws));
	else if (WIFEXITED(ws))
		snprintf(b, n, "exit status %d", WEXITSTATUS(ws));
	else
		snprintf(b, n, "killed by signal %d", WTERMSIG(ws));
}

struct compare_run {
	const struct compare_args *a;
	char exe[PATH_MAX]; /* kaos-trace itself */
	char dir[PATH_MAX];
	char **files[2]; /* the runs' JSON reports, per side */
	int nfiles[2];
};

/* The tracer's argv for one run of side `side`: kaos-trace OPTS --json FILE -- CMD. */
static char **run_argv(const struct compare_args *a, int side, char *json)
{
	char **v = calloc((size_t)(a->nopts + a->ncmd[side] + 5), sizeof(char *));
	int k = 0;

	if (!v)
		return NULL;
	v[k++] = (char *)"kaos-trace";
	for (int i = 0; i < a->nopts; i++)
		v[k++] = a->opts[i];
	v[k++] = (char *)"--json";
	v[k++] = json;
	v[k++] = (char *)"--";
	for (int i = 0; i < a->ncmd[side]; i++)
		v[k++] = a->cmd[side][i];
	return v;
}

/* One run of side `side` in round r (1-based); 0, or an exit status with msg. */
static int run_side(struct compare_run *c, int side, unsigned int r, char *msg, size_t n)
{
	char json[PATH_MAX + 32], log[PATH_MAX + 32], why[64], last[600];
	char **argv, *copy;
	int ws;

	snprintf(json, sizeof(json), "%s/%c-round%u.json", c->dir, "AB"[side], r);
	snprintf(log, sizeof(log), "%s/%c-round%u.log", c->dir, "AB"[side], r);
	copy = strdup(json);
	if (copy)
		c->files[side][c->nfiles[side]++] = copy; /* freed with the others */
	argv = copy ? run_argv(c->a, side, json) : NULL;
	if (!argv) {
		snprintf(msg, n, "out of memory");
		return KT_DIFF_EXIT_FAILURE;
	}
	ws = run_traced(c->exe, argv, log);
	free(argv);
	if (stop_signal)
		return 128 + stop_signal;
	if (ws >= 0 && WIFEXITED(ws) && !WEXITSTATUS(ws))
		return 0;
	describe_status(ws, why, sizeof(why));
	last_words(log, last, sizeof(last));
	snprintf(msg, n, "compare: CMD_%c (%s, round %u of %u) failed, %s: %s", side ? 'B' : 'A',
		 c->a->cmd[side][0], r, c->a->rounds, why, last);
	return KT_DIFF_EXIT_FAILURE;
}

/* The rounds: A B, then B A, ... */
static int run_rounds(struct compare_run *c, char *msg, size_t n)
{
	for (unsigned int r = 1; r <= c->a->rounds; r++)
		for (int k = 0; k < 2; k++) {
			int side = r % 2 ? k : 1 - k;
			int status = stop_signal ? 128 + stop_signal : run_side(c, side, r, msg, n);

			if (status)
				return status;
		}
	return 0;
}

/* kaos-trace diff [--json] [--fail-if-slower G] A... -- B... on the runs' reports. */
static int diff_runs(struct compare_run *c, FILE *out, char *msg, size_t n)
{
	char **v = calloc((size_t)(c->nfiles[0] + c->nfiles[1] + 6), sizeof(char *));
	int k = 0, status;

	if (!v) {
		snprintf(msg, n, "out of memory");
		return KT_DIFF_EXIT_FAILURE;
	}
	v[k++] = (char *)"kaos-trace";
	v[k++] = (char *)"diff";
	if (c->a->json)
		v[k++] = (char *)"--json";
	if (c->a->gate) {
		v[k++] = (char *)"--fail-if-slower";
		v[k++] = (char *)c->a->gate;
	}
	for (int side = 0; side < 2; side++) {
		for (int i = 0; i < c->nfiles[side]; i++)
			v[k++] = c->files[side][i];
		if (!side)
			v[k++] = (char *)"--";
	}
	if (!c->a->json)
		fprintf(out,
			"kaos-trace compare: before = CMD_A (%s), after = CMD_B (%s), %u rounds\n",
			c->a->cmd[0][0], c->a->cmd[1][0], c->a->rounds);
	status = kt_diff_cmd(k, v, out, msg, n);
	free(v);
	return status;
}

/* Removes the temporary directory and what the runs left in it. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX + 256];

	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static int compare_in_dir(struct compare_run *c, FILE *out, char *msg, size_t n)
{
	int status;

	c->files[0] = calloc(c->a->rounds, sizeof(char *));
	c->files[1] = calloc(c->a->rounds, sizeof(char *));
	if (!c->files[0] || !c->files[1]) {
		snprintf(msg, n, "out of memory");
		status = KT_DIFF_EXIT_FAILURE;
	} else {
		status = run_rounds(c, msg, n);
		if (!status)
			status = diff_runs(c, out, msg, n);
	}
	for (int side = 0; side < 2; side++) {
		for (int i = 0; i < c->nfiles[side]; i++)
			free(c->files[side][i]);
		free(c->files[side]);
	}
	return status;
}

/*
 * The program to re-execute for each run: this one. Its path, read from
 * /proc/self/exe (under valgrind: the client's, not valgrind's), or the link
 * itself when the path is gone (an upgrade replaced the file).
 */
static void self_exe(char *exe, size_t n)
{
	ssize_t len = readlink("/proc/self/exe", exe, n - 1);

	exe[len > 0 ? len : 0] = '\0';
	if (len <= 0 || (size_t)len >= n - 1 || access(exe, X_OK))
		snprintf(exe, n, "/proc/self/exe");
}

static int compare(const struct compare_args *a, FILE *out, char *msg, size_t n)
{
	struct compare_run c = {.a = a};
	const char *tmp = getenv("TMPDIR");
	int status;

	self_exe(c.exe, sizeof(c.exe));
	snprintf(c.dir, sizeof(c.dir), "%s/kaos-compare.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(c.dir)) {
		snprintf(msg, n, "compare: temporary directory %s: %s", c.dir, strerror(errno));
		return KT_DIFF_EXIT_FAILURE;
	}
	status = compare_in_dir(&c, out, msg, n);
	remove_dir(c.dir);
	if (stop_signal) {
		snprintf(msg, n, "compare: stopped by signal %d", (int)stop_signal);
		status = 128 + stop_signal;
	}
	return status;
}

int kt_compare_cmd(int argc, char **argv, FILE *out, char *msg, size_t n)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa = {.sa_handler = on_stop_signal}, old[3];
	struct compare_args a = {.rounds = KT_COMPARE_ROUNDS};
	int status;

	msg[0] = '\0';
	a.opts = calloc((size_t)argc, sizeof(char *));
	if (!a.opts) {
		snprintf(msg, n, "out of memory");
		return KT_DIFF_EXIT_FAILURE;
	}
	if (parse_args(argc, argv, &a, msg, n)) {
		free(a.opts);
		return KT_DIFF_EXIT_USAGE;
	}
	stop_signal = 0;
	sigemptyset(&sa.sa_mask); /* no SA_RESTART: waitpid() returns to forward the signal */
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	status = compare(&a, out, msg, n);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	free(a.opts);
	return status;
}
