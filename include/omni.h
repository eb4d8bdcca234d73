/* omni — public C API.
 *
 * Opaque contexts, *_default_params() structs and callbacks, in the spirit of
 * whisper.h. The CLI and the HTTP server are clients of this API; applications
 * embedding omni use the same calls. (Filled in as the runtime lands.) */
#ifndef OMNI_H
#define OMNI_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

const char *omni_version(void);

#ifdef __cplusplus
}
#endif
#endif
