/* guardrail: the command line front door. Subcommands live one per file in cli/. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hs/hs.h>

#include "cli/commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"check", gw_cmd_check, "compile rule packs, report errors as file:line, run their examples"},
    {"scan", gw_cmd_scan, "screen text: JSON lines on stdin, or one --text"},
    {"try", gw_cmd_try, "show what a sentence would meet, as a question and as a reply, under a tenant's policy"},
    {"serve", gw_cmd_serve, "run the screening gateway (OpenAI-compatible proxy)"},
    {"mock", gw_cmd_mock, "run the built-in mock provider alone"},
    {"train", gw_cmd_train, "train the learned stage's model from labelled JSON lines"},
    {"eval", gw_cmd_eval, "cross-validate rules and model, and pick the model's thresholds"},
    {"report", gw_cmd_report, "write a one-page KPI report (HTML or Markdown) from the KPI store"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: guardrail <command> [options]\n\n"
                 "A screening gateway for customer-facing chatbots.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'guardrail <command> --help' describes each command.\n"
                 "  --version   print the version and exit\n");
}

int gw_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("guardrail: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("guardrail %s (Hyperscan %s)\n", GW_VERSION, hs_version());
        return 0;
    }
    if (hs_valid_platform() != HS_SUCCESS) {
        fprintf(stderr, "guardrail: this CPU lacks the instructions Hyperscan needs (SSSE3)\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    gw_cli_usage_error("unknown command '%s'", argv[1]);
    usage(stderr);
    return 2;
}
