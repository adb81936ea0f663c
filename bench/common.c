/* What the benchmarks share: the machine's description, clocks, latency histograms. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ecom.h"

void bench_print_machine(void)
{
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(model, sizeof model, "%s", colon + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    printf("machine: %s, %ld cores, %s %s %s; libecom %s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
           u.sysname, u.release, u.machine, ecom_version());
}

void bench_print_load(void)
{
    double load[3];
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) == 3)
        printf("load:     %.2f %.2f %.2f (1, 5, 15 min) at start\n", load[0], load[1], load[2]);
    if (f)
        fclose(f);
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_written_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (f == NULL)
        return 0;
    char line[128];
    unsigned long long bytes = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "wchar: %llu", &bytes) == 1)
            break;
    fclose(f);
    return bytes;
}

#define DISK_FILE_PAGES 16384 /* 64 MB, so that scattered pages land far apart, as in a store */
#define DISK_REPEATS 15

/* The median time of DISK_REPEATS writes of n pages (from *rng when scattered, else
 * side by side from a random start) and an fdatasync each; -1 on an I/O error. */
static double time_syncs(int fd, const char *page, size_t n, int scattered, uint64_t *rng)
{
    double took[DISK_REPEATS];
    for (int r = 0; r < DISK_REPEATS; r++) {
        uint64_t first = bench_random(rng) % (DISK_FILE_PAGES - n);
        uint64_t t0 = bench_now_ns();
        for (size_t i = 0; i < n; i++) {
            uint64_t pg = scattered ? bench_random(rng) % DISK_FILE_PAGES : first + i;
            if (pwrite(fd, page, 4096, (off_t)(pg * 4096)) != 4096)
                return -1;
        }
        if (fdatasync(fd) != 0)
            return -1;
        took[r] = (double)(bench_now_ns() - t0) / 1000.0;
    }
    return bench_median(took, DISK_REPEATS);
}

int bench_disk_probe(const char *dir, bench_disk *out)
{
    *out = (bench_disk){0};
    char path[600];
    snprintf(path, sizeof path, "%s/disk-probe", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "bench: disk probe: %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* Real zeros, not a hole or fallocate: writing into either is a metadata change
     * that the sync would pay for too. */
    static char block[1 << 20], page[4096];
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < (size_t)DISK_FILE_PAGES * 4096; off += sizeof block)
        rc = pwrite(fd, block, sizeof block, (off_t)off) == (ssize_t)sizeof block ? 0 : -1;
    if (rc == 0)
        rc = fdatasync(fd);
    memset(page, 0x5a, sizeof page);
    uint64_t rng = 42;
    if (rc == 0) {
        out->one_us = time_syncs(fd, page, 1, 1, &rng);
        out->scattered_us = time_syncs(fd, page, BENCH_DISK_PAGES, 1, &rng);
        out->adjacent_us = time_syncs(fd, page, BENCH_DISK_PAGES, 0, &rng);
        rc = out->one_us < 0 || out->scattered_us < 0 || out->adjacent_us < 0 ? -1 : 0;
    }
    if (rc != 0) {
        fprintf(stderr, "bench: disk probe: writing %s: %s\n", path, strerror(errno));
        *out = (bench_disk){0};
    }
    close(fd);
    unlink(path);
    return rc;
}

const char *bench_fresh_dir(const char *name)
{
    static char dir[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ecom-bench-%s-%ld", tmp && *tmp ? tmp : "/tmp", name,
             (long)getpid());
    bench_remove_dir(dir);
    return dir;
}

void bench_remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
}

/* Bucket: 16 linear steps within each power of two. */
static size_t bucket_of(uint64_t ns)
{
    if (ns < 16)
        return (size_t)ns;
    int log2 = 63 - __builtin_clzll(ns);
    size_t sub = (size_t)((ns >> (log2 - 4)) & 15);
    size_t b = (size_t)(log2 - 3) * 16 + sub;
    return b < BENCH_HIST_BUCKETS ? b : BENCH_HIST_BUCKETS - 1;
}

static double bucket_value(size_t b)
{
    if (b < 16)
        return (double)b;
    int log2 = (int)(b / 16) + 3;
    double base = (double)(1ull << log2);
    return base + base * ((double)(b % 16) + 0.5) / 16.0;
}

void bench_hist_add(bench_hist *h, uint64_t ns)
{
    h->buckets[bucket_of(ns)]++;
    h->count++;
}

void bench_hist_merge(bench_hist *into, const bench_hist *from)
{
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
}

double bench_hist_quantile_us(const bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank)
            return bucket_value(i) / 1000.0;
    }
    return bucket_value(BENCH_HIST_BUCKETS - 1) / 1000.0;
}

uint64_t bench_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *values, size_t n)
{
    if (n == 0)
        return 0;
    qsort(values, n, sizeof *values, compare_double);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}
