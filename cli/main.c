/* main.c -- the raiiaf command: dispatches to one command per file. */
#include "cli.h"

#include <string.h>

static const char usage[] =
    "usage: raiiaf COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create    write a .raiiaf file from an image, latents (.npy) and a generation record\n"
    "  info      summarise a file (--json: the whole manifest)\n"
    "  extract   write out the image, tensors (.npy) and manifest\n"
    "  verify    check every structure, checksum, digest and the metadata schema\n"
    "  import    an image with its generator's metadata (A1111, ComfyUI, ...) -> a file\n"
    "  export    the image as PNG/JPEG/WebP carrying A1111 `parameters` and the manifest\n"
    "  index     index folders of .raiiaf files into a SQLite library (--db)\n"
    "  search    search that library by words, model, seed, tag\n"
    "  serve     index folders and browse them in a local web app (JSON API too)\n"
    "  convert   rewrite a file in format 2 or format 1 (the original Python package's)\n"
    "  env       this machine's environment; a file's record (env show); drift (env diff)\n"
    "  edit      append a new manifest version (prompt, tags, any field); history lists them\n"
    "  history   every manifest version of a file and what changed\n"
    "  compact   rewrite a file with only its newest version\n"
    "  keygen    make an Ed25519 key pair; sign: sign a file; verify --pubkey: check it\n"
    "  sign      sign a file's newest manifest with an Ed25519 key\n"
    "  recover   salvage what survives of a damaged file into a new one\n"
    "  noise     torch.randn's CPU noise for a seed and shape, bit for bit (.npy)\n"
    "\n"
    "'raiiaf COMMAND --help' describes each.  --version prints the version.\n"
    "\n"
    "Exit status: 0 success; 1 verify found a problem; 2 usage error; 3 an input is\n"
    "unreadable (missing), corrupt or invalid; 4 I/O or system error; 5 another writer\n"
    "kept the file locked (edit, sign, compact, recover, index); 6 index --dask cannot\n"
    "start Python, the raiiaf package or dask.distributed.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("raiiaf %s (format %d.%d)\n", raiiaf_version_string(), RAIIAF_FORMAT_MAJOR, RAIIAF_FORMAT_MINOR);
        return EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"create", cmd_create}, {"info", cmd_info}, {"extract", cmd_extract}, {"verify", cmd_verify}, {"import", cmd_import}, {"export", cmd_export}, {"index", cmd_index}, {"search", cmd_search}, {"serve", cmd_serve}, {"convert", cmd_convert}, {"env", cmd_env}, {"edit", cmd_edit}, {"history", cmd_history}, {"compact", cmd_compact}, {"keygen", cmd_keygen}, {"sign", cmd_sign}, {"recover", cmd_recover}, {"noise", cmd_noise}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) {
            int status = commands[i].fn(argc - 1, argv + 1);
            if (fflush(stdout) != 0 && status == EXIT_OK) {
                cli_err("cannot write to standard output");
                return EXIT_SYSTEM;
            }
            return status;
        }
    cli_err("unknown command '%s' (see raiiaf --help)", cmd);
    return EXIT_USAGE;
}
