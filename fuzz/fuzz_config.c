/* libFuzzer target for the configuration loader (config/config.c): the input is a
 * configuration file. gw_config_load reads a path, so the input goes into a memory file
 * (memfd) opened through /proc/self/fd. Checks: a refused file says why; a loaded one
 * has what the gateway relies on (a listen address, a provider with a base URL unless it
 * is the mock, timeouts that are not negative) and frees cleanly. ${FUZZ_KEY} is set, so a
 * key from the environment can load. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "fuzz.h"

static void check_provider(const struct gw_provider *p)
{
    CHECK(p->name);
    CHECK(p->mock || p->base_url);
    CHECK(p->connect_timeout_ms >= 0 && p->timeout_ms >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd == -1) {
        setenv("FUZZ_KEY", "sk-fuzz", 1);
        fd = memfd_create("fuzz-config", 0);
        CHECK(fd != -1);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
    struct gw_config cfg;
    char err[512] = "";
    if (gw_config_load(&cfg, path, err, sizeof err) != 0) {
        CHECK(err[0] != '\0');
    } else {
        CHECK(cfg.listen_host && cfg.log_level && cfg.block_message);
        CHECK(cfg.listen_port >= 0 && cfg.listen_port <= 65535 && cfg.workers >= 0);
        check_provider(&cfg.provider);
        for (size_t i = 0; i < cfg.n_more; i++)
            check_provider(&cfg.more[i]);
        for (size_t i = 0; i < cfg.n_rules; i++)
            CHECK(cfg.rules[i]);
        for (size_t i = 0; i < cfg.n_passthrough; i++)
            CHECK(cfg.passthrough[i].method && cfg.passthrough[i].path);
    }
    gw_config_free(&cfg);
    return 0;
}
