/* valgrind memcheck over full command-line runs: the text-layer path in
 * each output format and a small model run with the tiny test model.
 * Skipped (77) without valgrind and in sanitizer builds, which valgrind
 * cannot run. */
#include "../cli/clitest.h"


static int memcheck(const char *const *args)
{
    GPtrArray *a = g_ptr_array_new();
    const char *pre[] = { "valgrind", "--error-exitcode=99", "--leak-check=full",
                          "--errors-for-leak-kinds=definite", "--quiet",
                          g_getenv("DOCVL_VALGRIND_SUPP"), g_getenv("DOCVL_EXE") };
    for (size_t i = 0; i < G_N_ELEMENTS(pre); i++)
        g_ptr_array_add(a, (char *)pre[i]);
    for (; *args; args++)
        g_ptr_array_add(a, (char *)*args);
    g_ptr_array_add(a, NULL);
    char *err = NULL;
    int status = 0;
    GError *ge = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)a->pdata, NULL,
                               G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                               G_SPAWN_STDIN_FROM_DEV_NULL,
                               NULL, NULL, NULL, &err, &status, &ge));
    g_assert_no_error(ge);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code == 99)
        g_printerr("%s", err);
    g_free(err);
    g_ptr_array_free(a, TRUE);
    return code;
}

int main(void)
{
    char *vg = g_find_program_in_path("valgrind");
    if (!vg || g_getenv("DOCVL_SANITIZED")) {
        printf("1..0 # SKIP %s\n", vg ? "sanitizer build" : "valgrind is not installed");
        g_free(vg);
        return 0;   /* TAP: the plan "1..0 # SKIP" is the skip */
    }
    g_free(vg);
    char *pdf = sample("born-digital.pdf"), *img = sample("phototest.tif");
    char *m = test_data("golden/tiny-siglip-f32");
    const char *fmts[] = { "txt", "md", "hocr" };
    int n = 0, bad = 0;
    printf("1..4\n");
    for (int i = 0; i < 3; i++) {
        int c = memcheck((const char *[]){ "-f", fmts[i], "--text-layer", "only", pdf, NULL });
        printf("%sok %d - text layer, %s (exit %d)\n", c ? "not " : "", ++n, fmts[i], c);
        bad += c != 0;
    }
    int c = memcheck((const char *[]){ "-m", m, "--max-tokens", "4", "--tiles", "off",
                                       "--threads", "1", img, NULL });
    printf("%sok %d - tiny model (exit %d)\n", c ? "not " : "", ++n, c);
    bad += c != 0;
    g_free(pdf);
    g_free(img);
    g_free(m);
    return bad ? 1 : 0;
}
