/* cfs/cfs.h - the whole module SDK in one include. */
#ifndef CFS_CFS_H
#define CFS_CFS_H
#include "abi.h"
#include "errors.h"
#include "module.h"
#include "host.h"
#include "vfs.h"
#include "errmap.h"
#include "meta.h"
#include "identity.h"
#endif
