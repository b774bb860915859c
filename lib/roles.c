#include "roles.h"

#include <string.h>

static const struct sb_role_info role_table[SB_ROLE_COUNT] = {
#define SB_ROLE_ROW(n, l, r, p, d) {#n, l, r, p, d},
    SB_ROLES(SB_ROLE_ROW)
#undef SB_ROLE_ROW
};

const struct sb_role_info *sb_role_info(enum sb_role role) {
    return &role_table[role];
}

enum sb_role sb_role_by_name(const char *name) {
    for (int i = 0; i < SB_ROLE_COUNT; i++)
        if (strcmp(role_table[i].name, name) == 0)
            return (enum sb_role)i;
    return SB_ROLE_NONE;
}
