/* The public API (include/docvl.h) on top of the internal modules. */
#include "docvl.h"

const char *docvl_version(void) { return DOCVL_VERSION; }

const char *docvl_status_name(int status)
{
    switch (status) {
    case DOCVL_OK: return "ok";
    case DOCVL_EINVAL: return "invalid argument";
    case DOCVL_EIO: return "input/output error";
    case DOCVL_EFORMAT: return "malformed input";
    case DOCVL_EMODEL: return "invalid model";
    case DOCVL_EUNSUPPORTED: return "unsupported";
    case DOCVL_ELIMIT: return "limit exceeded";
    case DOCVL_ENOMEM: return "out of memory";
    case DOCVL_ECONTEXT: return "context length exceeded";
    case DOCVL_EINTERRUPTED: return "interrupted";
    case DOCVL_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}
