/* sshd's ForceCommand for a simulated node, in C: `shell-client SOCKET STATE_DIR`.
 *
 * The same protocol as shell_client.py (see labsim/nodes/shell_server.py): one SEQPACKET
 * message `run\0STATE_DIR\0CWD\0K=V\0...` carrying fds 0, 1 and 2, then the exit status as
 * decimal text. labsim compiles it when a C compiler is at hand because it starts for every
 * simulated SSH command: about 1 ms here against about 10 ms for Python's start-up.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define STATUS_LOST 255

extern char **environ;

static int append(char **buf, size_t *len, size_t *cap, const char *text, size_t size) {
    if (*len + size > *cap) {
        size_t grown = (*cap + size) * 2;
        char *bigger = realloc(*buf, grown);
        if (bigger == NULL) return -1;
        *buf = bigger;
        *cap = grown;
    }
    memcpy(*buf + *len, text, size);
    *len += size;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fputs("usage: shell-client SOCKET STATE_DIR\n", stderr);
        return 2;
    }
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == NULL) strcpy(cwd, "/");
    size_t len = 0, cap = 8192;
    char *request = malloc(cap);
    int failed = request == NULL;
    failed = failed || append(&request, &len, &cap, "run", 4);
    failed = failed || append(&request, &len, &cap, argv[2], strlen(argv[2]) + 1);
    failed = failed || append(&request, &len, &cap, cwd, strlen(cwd) + 1);
    for (char **entry = environ; !failed && *entry != NULL; entry++) {
        failed = append(&request, &len, &cap, *entry, strlen(*entry) + 1);
    }
    if (failed) {
        fputs("labsim: out of memory\n", stderr);
        return STATUS_LOST;
    }
    len--; /* entries are separated, not terminated, by NUL (as in the Python client) */

    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof address.sun_path) {
        fputs("labsim: socket path too long\n", stderr);
        return STATUS_LOST;
    }
    strcpy(address.sun_path, argv[1]);
    int conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (conn < 0 || connect(conn, (struct sockaddr *)&address, sizeof address) < 0) {
        perror("labsim: node shell unavailable");
        return STATUS_LOST;
    }
    int fds[3] = {0, 1, 2};
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {.iov_base = request, .iov_len = len};
    struct msghdr message = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof control.buf,
    };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(header), fds, sizeof fds);
    /* MSG_NOSIGNAL: a server that just died is a lost session (255), not a SIGPIPE death. */
    if (sendmsg(conn, &message, MSG_NOSIGNAL) < 0) {
        perror("labsim: node shell unavailable");
        return STATUS_LOST;
    }
    char reply[16];
    ssize_t got = recv(conn, reply, sizeof reply - 1, 0);
    if (got <= 0) return STATUS_LOST;
    reply[got] = '\0';
    char *end;
    long status = strtol(reply, &end, 10);
    return end == reply || status < 0 || status > 255 ? STATUS_LOST : (int)status;
}
