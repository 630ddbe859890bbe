/* test_half.c -- the one float16 / bfloat16 conversion (src/half.c) on
 * values whose results are known: rounding to nearest even, subnormals,
 * overflow, NaN, and exact widening. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "half.h"

static void test_to_f16(void **state)
{
    (void)state;
    static const struct {
        float f;
        uint16_t h;
    } t[] = {
        {1.0f, 0x3c00},         {-2.0f, 0xc000},          {65504.0f, 0x7bff}, {65520.0f, 0x7c00} /* overflows */,
        {0x1p-24f, 0x0001},     {0x1p-25f, 0x0000},       {0x1.8p-25f, 0x0001}, {0x1p-14f, 0x0400},
        {1.0f + 0x1p-11f, 0x3c00} /* tie to even */,       {1.0f + 0x3p-11f, 0x3c02}, {0.1f, 0x2e66},
        {0x1.ffcp-15f, 0x0400} /* carries into the smallest normal */, {-0.0f, 0x8000}, {INFINITY, 0x7c00},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (rf_f32_to_f16(t[i].f) != t[i].h) fail_msg("%a -> 0x%04x, expected 0x%04x", (double)t[i].f, rf_f32_to_f16(t[i].f), t[i].h);
    uint16_t nan = rf_f32_to_f16(NAN);
    assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) && (nan & 0x200)); /* quiet */
}

static void test_to_bf16(void **state)
{
    (void)state;
    assert_int_equal(rf_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(rf_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80); /* tie to even */
    assert_int_equal(rf_f32_to_bf16(1.0f + 0x3p-8f), 0x3f82);
    assert_true(rf_f32_to_bf16(NAN) & 0x40);
}

static void test_widening_is_exact(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = rf_f16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            assert_true(isnan(f));
            continue;
        }
        if (rf_f32_to_f16(f) != h) fail_msg("0x%04x -> %a -> 0x%04x", h, (double)f, rf_f32_to_f16(f));
        uint32_t bits;
        float g = rf_bf16_to_f32((uint16_t)h);
        memcpy(&bits, &g, 4);
        assert_int_equal(bits, h << 16);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_f16),
        cmocka_unit_test(test_to_bf16),
        cmocka_unit_test(test_widening_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
