/* dump.c — nraudit dump: a fresh report from the agent in a running JVM,
 * through the agent's command channel:
 *
 *   jcmd <pid> JVMTI.agent_load "<agent>" "report,format=F,file=<temp>"
 *
 * The agent (already loaded at start-up) writes the report from
 * Agent_OnAttach before jcmd returns. The option string is quoted: jcmd's
 * argument parser would otherwise cut it at the first '='. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define JCMD_OUTPUT_MAX (64 * 1024)
#define STDERR_TAIL_MAX (256 * 1024)
/* After jcmd reports success the file is already there (the agent writes it
 * before returning); wait a little anyway, for slow file systems. */
#define GRACE_AFTER_SUCCESS 5.0

static char tmp_dir_host[PATH_MAX];   /* our temp directory, as we see it */
static volatile sig_atomic_t interrupted;
static pid_t jcmd_child = -1;

static void remove_tmp_dir(void)
{
    if (tmp_dir_host[0] == '\0')
        return;
    DIR *d = opendir(tmp_dir_host);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[PATH_MAX + 256];
            snprintf(p, sizeof(p), "%s/%s", tmp_dir_host, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmp_dir_host);
    tmp_dir_host[0] = '\0';
}

static void cleanup(void)
{
    if (jcmd_child > 0) {
        kill(jcmd_child, SIGKILL);
        waitpid(jcmd_child, NULL, 0);
        jcmd_child = -1;
    }
    remove_tmp_dir();
}

static void on_signal(int sig)
{
    interrupted = sig;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_interrupted(void)
{
    if (interrupted)
        cli_die("interrupted (signal %d)", (int)interrupted);
}

/* ---- the target ----------------------------------------------------------- */

struct target {
    long pid;
    uid_t uid;
    gid_t gid;
    char agent[PATH_MAX];
    bool has_jvm;
};

static bool agent_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "libnraudit", 10) == 0 && strstr(base, ".so") != NULL;
}

/* Where this nraudit's own agent would be, for the hint in the error. */
static void agent_hint(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    snprintf(out, len, "...");
    if (n <= 0)
        return;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return;
    *slash = '\0';
    static const char *const rel[] = {"/libnraudit.so", "/../lib/libnraudit.so"};
    for (size_t i = 0; i < 2; i++) {
        char cand[PATH_MAX + 32], real[PATH_MAX];
        snprintf(cand, sizeof(cand), "%s%s", self, rel[i]);
        if (access(cand, R_OK) == 0 && realpath(cand, real)) {
            snprintf(out, len, "%s", real);
            return;
        }
    }
}

static void read_ids(struct target *t)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", t->pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            cli_die("no process with pid %ld", t->pid);
        cli_die("cannot read %s: %s", path, strerror(errno));
    }
    bool got_uid = false, got_gid = false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long real, eff;
        if (sscanf(line, "Uid: %lu %lu", &real, &eff) == 2)
            t->uid = (uid_t)eff, got_uid = true;
        else if (sscanf(line, "Gid: %lu %lu", &real, &eff) == 2)
            t->gid = (gid_t)eff, got_gid = true;
    }
    fclose(f);
    if (!got_uid || !got_gid)
        cli_die("cannot tell the user of pid %ld from %s", t->pid, path);
}

static void find_agent(struct target *t)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/maps", t->pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            cli_die("no process with pid %ld", t->pid);
        cli_die("cannot read %s: %s (run nraudit as the JVM's user)", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    t->agent[0] = '\0';
    t->has_jvm = false;
    while (getline(&line, &cap, f) > 0) {
        int off = 0;
        if (sscanf(line, "%*s %*s %*s %*s %*s %n", &off) != 0 || off <= 0 || line[off] != '/')
            continue;
        char *p = line + off;
        p[strcspn(p, "\n")] = '\0';
        static const char del[] = " (deleted)";
        size_t n = strlen(p);
        if (n > sizeof(del) - 1 && strcmp(p + n - (sizeof(del) - 1), del) == 0)
            p[n - (sizeof(del) - 1)] = '\0';
        const char *base = strrchr(p, '/') + 1;
        if (strcmp(base, "libjvm.so") == 0)
            t->has_jvm = true;
        if (t->agent[0] == '\0' && agent_name(p))
            snprintf(t->agent, sizeof(t->agent), "%s", p);
    }
    bool read_error = ferror(f);
    free(line);
    fclose(f);
    if (read_error)
        cli_die("cannot read %s", path);
    if (t->agent[0] == '\0') {
        char hint[PATH_MAX];
        agent_hint(hint, sizeof(hint));
        cli_die("pid %ld has no nraudit agent loaded (start the JVM with -agentpath:%s)", t->pid, hint);
    }
    if (!t->has_jvm)
        cli_die("pid %ld maps %s but is not a HotSpot JVM (no libjvm.so)", t->pid, t->agent);
    if (strchr(t->agent, '"') || strchr(t->agent, ','))
        cli_die("the agent path %s has a '\"' or ',' that jcmd cannot pass on", t->agent);
}

/* ---- jcmd ----------------------------------------------------------------- */

static bool executable(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static void find_jcmd(const struct target *t, char *out, size_t len)
{
    const char *jh = getenv("JAVA_HOME");
    char tried[3 * PATH_MAX] = "";
    if (jh && *jh) {
        snprintf(out, len, "%s/bin/jcmd", jh);
        if (executable(out))
            return;
        snprintf(tried, sizeof(tried), "%s, ", out);
    }
    char exe[PATH_MAX], link[64];
    snprintf(link, sizeof(link), "/proc/%ld/exe", t->pid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, len, "%s/jcmd", exe);
            if (executable(out))
                return;
            size_t tl = strlen(tried);
            snprintf(tried + tl, sizeof(tried) - tl, "%s, ", out);
        }
    }
    const char *path = getenv("PATH");
    if (path) {
        for (const char *p = path; *p;) {
            size_t dl = strcspn(p, ":");
            if (dl > 0) {
                snprintf(out, len, "%.*s/jcmd", (int)dl, p);
                if (executable(out))
                    return;
            }
            p += dl;
            if (*p == ':')
                p++;
        }
    }
    cli_die("cannot find jcmd (tried %sthen PATH); set JAVA_HOME to the JDK of pid %ld", tried, t->pid);
}

/* The JVM's stderr, when it is a regular file: the agent's messages land
 * there, and an error from it is worth more than "return code: -1". */
struct stderr_tail {
    int fd;
    off_t start;
};

static void stderr_open(struct stderr_tail *s, long pid)
{
    char p[64];
    struct stat st;
    s->fd = -1;
    snprintf(p, sizeof(p), "/proc/%ld/fd/2", pid);
    /* Never open a pipe or a terminal: reading would steal its data. */
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    s->fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (s->fd >= 0 && (fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(s->fd);
        s->fd = -1;
        return;
    }
    s->start = s->fd >= 0 ? st.st_size : 0;
}

/* The last "nraudit: error: ..." line the JVM wrote since stderr_open. */
static bool stderr_agent_error(struct stderr_tail *s, char *out, size_t len)
{
    if (s->fd < 0)
        return false;
    struct stat st;
    if (fstat(s->fd, &st) != 0 || st.st_size <= s->start)
        return false;
    off_t from = st.st_size - s->start > STDERR_TAIL_MAX ? st.st_size - STDERR_TAIL_MAX : s->start;
    size_t n = (size_t)(st.st_size - from);
    char *buf = malloc(n + 1);
    if (!buf)
        return false;
    ssize_t got = pread(s->fd, buf, n, from);
    bool found = false;
    if (got > 0) {
        buf[got] = '\0';
        static const char tag[] = "nraudit: error: ";
        for (char *line = buf; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (strncmp(line, tag, sizeof(tag) - 1) == 0) {
                snprintf(out, len, "%s", line + sizeof(tag) - 1);
                found = true;
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    free(buf);
    return found;
}

/* Runs jcmd (as the target's user when we are root), collects its output.
 * Returns its wait status; dies on timeout. */
static int run_jcmd(const char *jcmd, char *const argv[], const struct target *t, bool drop, double deadline,
                    double timeout, char *out, size_t out_len)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        cli_die("pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0)
        cli_die("fork: %s", strerror(errno));
    if (child == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (drop) {
            if (chdir("/") != 0 || setgroups(0, NULL) != 0 || setgid(t->gid) != 0 || setuid(t->uid) != 0) {
                dprintf(1, "cannot switch to uid %lu to run jcmd: %s\n", (unsigned long)t->uid, strerror(errno));
                _exit(126);
            }
        }
        execv(jcmd, argv);
        dprintf(1, "cannot run %s: %s\n", jcmd, strerror(errno));
        _exit(127);
    }
    jcmd_child = child;
    close(pfd[1]);
    size_t n = 0;
    for (;;) {
        check_interrupted();
        double left = deadline - now_s();
        if (left <= 0) {
            close(pfd[0]);
            cli_die("jcmd on pid %ld did not finish within %g s (is the JVM stopped or very busy? "
                    "raise --timeout)", t->pid, timeout);
        }
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            cli_die("poll: %s", strerror(errno));
        if (pr == 0)
            continue;
        char buf[4096];
        ssize_t got = read(pfd[0], buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t keep = (size_t)got < out_len - 1 - n ? (size_t)got : out_len - 1 - n;
        memcpy(out + n, buf, keep);
        n += keep;
    }
    close(pfd[0]);
    out[n] = '\0';
    int status = 0;
    for (;;) {
        pid_t w = waitpid(child, &status, WNOHANG);
        if (w == child)
            break;
        if (w < 0 && errno != EINTR)
            cli_die("waitpid: %s", strerror(errno));
        check_interrupted();
        if (now_s() > deadline)
            cli_die("jcmd on pid %ld did not exit within %g s", t->pid, timeout);
        usleep(10000);
    }
    jcmd_child = -1;
    return status;
}

/* jcmd's output as one short line: without the "<pid>:" line and Java
 * stack-trace lines. */
static void summarize(const char *out, long pid, char *line, size_t len)
{
    char pidline[32];
    snprintf(pidline, sizeof(pidline), "%ld:", pid);
    size_t n = 0;
    line[0] = '\0';
    for (const char *p = out; *p && n + 3 < len;) {
        size_t l = strcspn(p, "\n");
        while (l > 0 && (p[l - 1] == '\r' || p[l - 1] == ' '))
            l--;
        size_t lead = strspn(p, " \t");
        bool trace = lead < l && (strncmp(p + lead, "at ", 3) == 0 || strncmp(p + lead, "...", 3) == 0);
        if (l > 0 && !trace && !(l == strlen(pidline) && strncmp(p, pidline, l) == 0)) {
            int w = snprintf(line + n, len - n, "%s%.*s", n ? "; " : "", (int)l, p);
            if (w > 0)
                n += (size_t)w < len - n ? (size_t)w : len - n - 1;
        }
        p += strcspn(p, "\n");
        if (*p == '\n')
            p++;
    }
    if (n == 0)
        snprintf(line, len, "no output");
}

/* ---- the verb ------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf)
            break;
        if (n == cap) {
            char *more = realloc(buf, cap * 2 + 1);
            if (!more) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = more;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            free(buf);
            buf = NULL;
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static void write_out(const char *out_path, const char *data, size_t len)
{
    if (!out_path || strcmp(out_path, "-") == 0) {
        /* Temp files are gone: a reader that stops early (| head) ends us
         * quietly, as it would cat. */
        signal(SIGPIPE, SIG_DFL);
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            cli_die("cannot write the report to stdout: %s", strerror(errno));
        return;
    }
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out_path, (long)getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        cli_die("cannot write %s: %s", out_path, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            cli_die("cannot write %s: %s", out_path, strerror(e));
        }
        done += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, out_path) != 0) {
        int e = errno;
        unlink(tmp);
        cli_die("cannot write %s: %s", out_path, strerror(e));
    }
    /* Say where the report went: the one line a script or a person reads. */
    printf("nraudit dump: wrote %s (%zu bytes)\n", out_path, len);
}

/* A temp directory the JVM sees at *target_dir: made through
 * /proc/<pid>/root so it is the JVM's /tmp (containers, PrivateTmp). */
static void make_tmp_dir(const struct target *t, bool drop, char *target_dir, size_t len)
{
    char root[64], tmp[128];
    snprintf(root, sizeof(root), "/proc/%ld/root", t->pid);
    snprintf(tmp, sizeof(tmp), "%s/tmp", root);
    bool via_root = access(tmp, W_OK | X_OK) == 0;
    snprintf(tmp_dir_host, sizeof(tmp_dir_host), "%s/tmp/nraudit-dump.XXXXXX", via_root ? root : "");
    if (!mkdtemp(tmp_dir_host)) {
        int e = errno;
        tmp_dir_host[0] = '\0';
        cli_die("cannot make a temp directory in %s/tmp: %s", via_root ? root : "", strerror(e));
    }
    if (drop && chown(tmp_dir_host, t->uid, t->gid) != 0)
        cli_die("cannot hand %s to uid %lu: %s", tmp_dir_host, (unsigned long)t->uid, strerror(errno));
    snprintf(target_dir, len, "%s", tmp_dir_host + (via_root ? strlen(root) : 0));
}

int cli_dump(int argc, char **argv)
{
    const char *pid_arg = NULL, *format = "text", *out_path = NULL, *v = NULL;
    double timeout = 60;
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = true;
        } else if (!opts_done && cli_is_help(a)) {
            cli_help(cli_usage_dump);
        } else if (!opts_done && cli_opt_value(a, "format", &i, argc, argv, &v)) {
            if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0 && strcmp(v, "html") != 0)
                cli_die("--format '%s': expected text, json or html", v);
            format = v;
        } else if (!opts_done && cli_opt_value(a, "out", &i, argc, argv, &v)) {
            if (*v == '\0')
                cli_die("--out needs a file name");
            out_path = v;
        } else if (!opts_done && cli_opt_value(a, "timeout", &i, argc, argv, &v)) {
            if (cli_parse_seconds(v, &timeout) != 0)
                cli_die("--timeout '%s': expected seconds, a number above 0 and at most 86400 (e.g. 30 or 2.5)", v);
        } else {
            if (!opts_done)
                cli_reject_option("dump", a);
            if (pid_arg)
                cli_die("dump takes one pid, got '%s' and '%s' (try 'nraudit dump --help')", pid_arg, a);
            pid_arg = a;
        }
    }
    if (!pid_arg)
        cli_die("dump needs the pid of a JVM running the agent (try 'nraudit dump --help')");
    struct target t = {0};
    if (cli_parse_pid(pid_arg, &t.pid) != 0)
        cli_die("'%s' is not a pid (a whole number above 0)", pid_arg);

    double start = now_s(), deadline = start + timeout;
    read_ids(&t);
    find_agent(&t);
    uid_t me = geteuid();
    bool drop = false;
    if (me != t.uid) {
        if (me != 0)
            cli_die("pid %ld runs as uid %lu, nraudit as uid %lu: jcmd must run as the JVM's user, so run "
                    "nraudit as that user", t.pid, (unsigned long)t.uid, (unsigned long)me);
        drop = true;
    }
    char jcmd[PATH_MAX];
    find_jcmd(&t, jcmd, sizeof(jcmd));

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cli_set_cleanup(cleanup);

    char target_dir[PATH_MAX], target_file[PATH_MAX + 32], host_file[PATH_MAX + 32];
    make_tmp_dir(&t, drop, target_dir, sizeof(target_dir));
    /* One format and a file name with its extension: the agent writes exactly there. */
    const char *ext = strcmp(format, "text") == 0 ? "txt" : format;
    snprintf(target_file, sizeof(target_file), "%s/report.%s", target_dir, ext);
    snprintf(host_file, sizeof(host_file), "%s/report.%s", tmp_dir_host, ext);

    char pid_s[24], lib_arg[PATH_MAX + 4], opt_arg[PATH_MAX + 64];
    snprintf(pid_s, sizeof(pid_s), "%ld", t.pid);
    snprintf(lib_arg, sizeof(lib_arg), "\"%s\"", t.agent);
    snprintf(opt_arg, sizeof(opt_arg), "\"report,format=%s,file=%s\"", format, target_file);
    char *jargv[] = {"jcmd", pid_s, "JVMTI.agent_load", lib_arg, opt_arg, NULL};

    struct stderr_tail tail;
    stderr_open(&tail, t.pid);
    static char output[JCMD_OUTPUT_MAX];
    int status = run_jcmd(jcmd, jargv, &t, drop, deadline, timeout, output, sizeof(output));

    char line[1024], agent_msg[1024];
    summarize(output, t.pid, line, sizeof(line));
    const char *rc_at = strstr(output, "return code: ");
    if (!rc_at) {
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
            cli_die("jcmd %ld JVMTI.agent_load failed (exit status %d): %s", t.pid, WEXITSTATUS(status), line);
        if (WIFSIGNALED(status))
            cli_die("jcmd %ld JVMTI.agent_load killed by signal %d: %s", t.pid, WTERMSIG(status), line);
        cli_die("jcmd %ld JVMTI.agent_load did not load the agent: %s", t.pid, line);
    }
    long rc = strtol(rc_at + strlen("return code: "), NULL, 10);
    if (rc != 0) {
        if (stderr_agent_error(&tail, agent_msg, sizeof(agent_msg)))
            cli_die("the agent in pid %ld refused the command: %s", t.pid, agent_msg);
        cli_die("the agent in pid %ld refused the command (jcmd: %s); its message is on the JVM's stderr",
                t.pid, line);
    }

    /* Success: the file should be there already. */
    double until = now_s() + GRACE_AFTER_SUCCESS;
    if (until > deadline)
        until = deadline;
    struct stat st;
    while (stat(host_file, &st) != 0) {
        check_interrupted();
        if (now_s() >= until) {
            if (stderr_agent_error(&tail, agent_msg, sizeof(agent_msg)))
                cli_die("the agent in pid %ld wrote no report: %s", t.pid, agent_msg);
            cli_die("the agent in pid %ld accepted the command but wrote no %s report to %s%s", t.pid, format,
                    target_file,
                    strcmp(format, "html") == 0 ? " (this agent may not write html yet)" : " (see the JVM's stderr)");
        }
        usleep(20000);
    }
    size_t len = 0;
    char *data = slurp(host_file, &len);
    if (!data)
        cli_die("cannot read the report %s: %s", host_file, strerror(errno));
    if (tail.fd >= 0)
        close(tail.fd);
    remove_tmp_dir();
    cli_set_cleanup(NULL);
    if (len == 0)
        cli_die("the agent in pid %ld wrote an empty report", t.pid);
    if (strcmp(format, "json") == 0) {
        char err[512];
        json_object *r = cli_parse_json(data, len, err, sizeof(err));
        if (!r)
            cli_die("the agent's report is not valid JSON: %s", err);
        if (cli_report_validate(r, err, sizeof(err)) != 0)
            cli_die("the agent's report: %s", err);
        if (strcmp(cli_str(r, "trigger"), "command") != 0)
            cli_die("the agent's report has trigger \"%s\", expected \"command\"", cli_str(r, "trigger"));
        json_object_put(r);
    }
    write_out(out_path, data, len);
    free(data);
    return CLI_EXIT_OK;
}
