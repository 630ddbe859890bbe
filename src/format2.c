/* format2.c -- the format 2 reading calls as a backend (reader_impl.h);
 * format 1's are in format1_read.c.  open.c picks one per file. */
#include "reader_impl.h"

static void release2(raiiaf_reader *r) { (void)r; /* everything format 2 holds is the reader's own */ }

const rf_backend rf_format2_backend = {
    .decode_tensor = rf_decode_tensor,
    .tensor_data = rf_f2_tensor_data,
    .image = rf_f2_image,
    .env_json = rf_f2_env_json,
    .verify = rf_f2_verify,
    .release = release2,
};
