/* idset.c — see include/idset.h. Linear probing, load factor <= 1/2. */
#include "idset.h"

#include <stdlib.h>

static size_t slot_of(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static bool grow(struct nra_idset *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint64_t *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t id = s->slots[i];
        if (!id)
            continue;
        size_t j = slot_of(id, cap);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = id;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return true;
}

bool nra_idset_add(struct nra_idset *s, uint64_t id)
{
    if (id == 0)
        return false;
    if ((s->count + 1) * 2 > s->cap && !grow(s)) {
        s->oom = true;
        return false;
    }
    size_t i = slot_of(id, s->cap);
    while (s->slots[i]) {
        if (s->slots[i] == id)
            return false;
        i = (i + 1) & (s->cap - 1);
    }
    s->slots[i] = id;
    s->count++;
    return true;
}

bool nra_idset_has(const struct nra_idset *s, uint64_t id)
{
    if (!s->cap || id == 0)
        return false;
    size_t i = slot_of(id, s->cap);
    while (s->slots[i]) {
        if (s->slots[i] == id)
            return true;
        i = (i + 1) & (s->cap - 1);
    }
    return false;
}

void nra_idset_free(struct nra_idset *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = s->count = 0;
}
