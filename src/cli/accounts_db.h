/* The accounts database for `omni serve` and `omni user`: --db URL or the default
 * sqlite:$OMNI_HOME/omni.db ($OMNI_HOME unset: ~/.local/share/omni/omni.db, beside the
 * model store), opened with its migrations applied. */
#ifndef OMNI_CLI_ACCOUNTS_DB_H
#define OMNI_CLI_ACCOUNTS_DB_H
#include "auth/accounts.h"
#include "core/error.h"
#include "storage/storage.h"

/* The default database folder into buf; NULL when it does not fit. */
const char *cli_db_dir(char *buf, size_t cap);
/* Opens url (NULL: the default). */
int cli_db_open(const char *url, struct store **out, struct err *e);

#endif
