#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

/* redisReaderGetObject/redisReaderGetError are macros: expose them as functions. */
static inline int chiredis_reader_has_error(const redisReader *reader) { return reader->err != 0; }
static inline const char *chiredis_reader_error(const redisReader *reader) { return reader->errstr; }

#endif
