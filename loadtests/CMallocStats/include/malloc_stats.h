#include <stddef.h>

/// Bytes malloc has handed out and not had back (glibc's mallinfo2 uordblks + hblkhd).
size_t malloc_stats_in_use(void);
