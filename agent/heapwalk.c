/* heapwalk.c — see include/heapwalk.h. Owner tracking arrives with the
 * class-file instrumentation; until then nothing can be classified. */
#include "heapwalk.h"

#include <errno.h>

int nra_heapwalk_classify(JNIEnv *env, struct nra_report *r)
{
    (void)env;
    (void)r;
    return -ENOTSUP;
}
