/* W4's write paths without an engine: 200 batches of 152,000 bytes (1,000 records of 152 B
 * framed), each written then made durable, into a new 64 MiB file, in six ways, interleaved
 * over several rounds. It measures what the file system charges for each (docs/PERFORMANCE.md,
 * "Durable batches: what the write path costs").
 *
 *   gcc -O2 -pthread -o /tmp/write_paths benches/peers/write_paths.c
 *   /tmp/write_paths [rounds] [directory]      (defaults: 3, /tmp)
 *
 * Ways (space: fallocated = mode 0 fallocate, unwritten extents; written = zeroes written with
 * pwrite and fdatasync'ed before the clock starts):
 *   mmap+msync fallocated      copy into a shared mapping, msync(MS_SYNC) of the batch's pages
 *   mmap+msync no read-ahead   the same after madvise(MADV_RANDOM) of the mapping
 *   pwrite+fdatasync fallocated   the floor of benches/peers
 *   pwrite+msync fallocated    pwrite, then msync of the same range through a mapping
 *   mmap+msync written
 *   pwrite+fdatasync written
 *   pwrite+fdatasync zeroing   fallocated, with a thread writing zeroes 4 MiB ahead of the
 *                              batches (pwrite + sync_file_range) while they run
 * Prints, per round and way: records/s (1,000 per batch), batch p50 and p99, and the batches
 * that took over a millisecond with where they ended.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SEGMENT (64L << 20)
#define BATCH (152L * 1000)
#define BATCHES 200
#define ZERO_CHUNK (1L << 20)
#define ZERO_AHEAD (4L << 20)

enum way {
    MMAP_FALLOC, MMAP_NO_READ_AHEAD, PWRITE_FALLOC, PWRITE_MSYNC, MMAP_WRITTEN, PWRITE_WRITTEN,
    ZEROING, WAYS
};
static const char *names[WAYS] = {
    "mmap+msync fallocated",    "mmap+msync no read-ahead", "pwrite+fdatasync fallocated",
    "pwrite+msync fallocated",  "mmap+msync written",       "pwrite+fdatasync written",
    "pwrite+fdatasync zeroing",
};

static char batch[BATCH];
static double latencies[BATCHES];
static int fd;
static atomic_long written_to, zeroed_to;
static atomic_int stop;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void write_zeroes(long from, long to) {
    static char zeroes[ZERO_CHUNK];
    for (long at = from; at < to; at += ZERO_CHUNK) pwrite(fd, zeroes, ZERO_CHUNK, at);
}

static void *zeroer(void *unused) {
    (void)unused;
    long at = 0;
    while (!stop && at < SEGMENT) {
        if (at >= written_to + ZERO_AHEAD) {
            usleep(100);
            continue;
        }
        write_zeroes(at, at + ZERO_CHUNK);
        sync_file_range(fd, at, ZERO_CHUNK,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER);
        at += ZERO_CHUNK;
        zeroed_to = at;
    }
    return NULL;
}

static void run(enum way way, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/write_paths.%d", dir, (int)way);
    unlink(path);
    fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) { perror(path); exit(1); }
    if (way == MMAP_WRITTEN || way == PWRITE_WRITTEN) {
        write_zeroes(0, SEGMENT);
        fdatasync(fd);
    } else if (fallocate(fd, 0, 0, SEGMENT) != 0) {
        perror("fallocate");
        exit(1);
    }
    char *map = mmap(NULL, SEGMENT, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (way == MMAP_NO_READ_AHEAD) madvise(map, SEGMENT, MADV_RANDOM);
    sync();
    usleep(100000);
    pthread_t thread;
    written_to = 0;
    zeroed_to = 0;
    stop = 0;
    if (way == ZEROING) {
        pthread_create(&thread, NULL, zeroer, NULL);
        while (zeroed_to < ZERO_AHEAD) usleep(100);
    }
    double start = now();
    long at = 0;
    char slow[4096] = "";
    for (int i = 0; i < BATCHES; i++) {
        double t = now();
        memset(batch, i + 1, BATCH);
        long page = at & ~4095L;
        if (way == ZEROING)
            while (zeroed_to < at + BATCH) usleep(10);
        if (way == MMAP_FALLOC || way == MMAP_NO_READ_AHEAD || way == MMAP_WRITTEN) {
            memcpy(map + at, batch, BATCH);
            msync(map + page, at + BATCH - page, MS_SYNC);
        } else {
            pwrite(fd, batch, BATCH, at);
            if (way == PWRITE_MSYNC) msync(map + page, at + BATCH - page, MS_SYNC);
            else fdatasync(fd);
        }
        at += BATCH;
        written_to = at;
        latencies[i] = (now() - t) * 1e6;
        if (latencies[i] > 1000) snprintf(slow + strlen(slow), sizeof slow - strlen(slow),
                                          " %.0f us at %.1f MiB;", latencies[i], at / 1048576.0);
    }
    double wall = now() - start;
    stop = 1;
    if (way == ZEROING) pthread_join(thread, NULL);
    qsort(latencies, BATCHES, sizeof(double), by_value);
    printf("%-30s %5.2fM records/s  p50 %5.0f us  p99 %5.0f us  over 1 ms:%s\n", names[way],
           BATCHES * 1000 / wall / 1e6, latencies[BATCHES / 2], latencies[BATCHES * 99 / 100],
           slow);
    munmap(map, SEGMENT);
    close(fd);
    unlink(path);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    for (int round = 0; round < rounds; round++) {
        printf("round %d\n", round + 1);
        for (int way = 0; way < WAYS; way++) run((enum way)way, dir);
    }
    return 0;
}
