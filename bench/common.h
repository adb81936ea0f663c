/* What the benchmarks share: the machine's description, clocks, latency histograms. */
#ifndef ECOM_BENCH_COMMON_H
#define ECOM_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Prints CPU model, core count, kernel and libecom's version, for people. */
void bench_print_machine(void);

/* Prints the load average, for people: other work on a shared machine skews figures. */
void bench_print_load(void);

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);

/* Bytes this process has handed to write calls so far (Linux's /proc/self/io
 * "wchar"), or 0 where that is not available. */
uint64_t bench_written_bytes(void);

/*
 * What an fdatasync costs on the disk under dir, for reading durable figures: the
 * median microseconds to write 4 KB pages into an allocated 64 MB file and
 * fdatasync them, for one page, for BENCH_DISK_PAGES pages scattered at random and
 * for as many side by side. Copy-on-write B-trees pay the scattered price. Returns
 * 0, or -1 with *out zeroed when the probe could not run (its reason on stderr).
 */
#define BENCH_DISK_PAGES 32
typedef struct bench_disk {
    double one_us, scattered_us, adjacent_us;
} bench_disk;

int bench_disk_probe(const char *dir, bench_disk *out);

/* A fresh, empty directory under $TMPDIR (or /tmp) for a store; static buffer. */
const char *bench_fresh_dir(const char *name);

/* Removes what bench_fresh_dir made. */
void bench_remove_dir(const char *dir);

/*
 * Latency histogram: log-linear buckets (16 per power of two) from 1 ns to ~70 s,
 * about 4% resolution. Add from one thread; merge threads' histograms at the end.
 */
#define BENCH_HIST_BUCKETS (36 * 16)
typedef struct bench_hist {
    uint64_t count;
    uint64_t buckets[BENCH_HIST_BUCKETS];
} bench_hist;

void bench_hist_add(bench_hist *h, uint64_t ns);
void bench_hist_merge(bench_hist *into, const bench_hist *from);
/* The q-quantile (0 < q < 1) in microseconds; 0 when empty. */
double bench_hist_quantile_us(const bench_hist *h, double q);

/* The next of a splitmix64 sequence: deterministic per seed, no shared state. */
uint64_t bench_random(uint64_t *state);

/* Median of n values (sorts them). */
double bench_median(double *values, size_t n);

#endif
