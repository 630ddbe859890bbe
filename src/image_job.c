/* image_job.c -- an image check on a second thread; see image_job.h. */
#include "image_job.h"

#include <stdlib.h>
#include <string.h>

static void *run(void *arg)
{
    rf_image_job *j = arg;
    j->rc = j->probed ? rf_image_check_pixels(j->data, j->size, &j->desc, &j->err)
                      : rf_image_validate(j->data, j->size, &j->desc, &j->err);
    return NULL;
}

int rf_image_job_start(rf_image_job *j, const void *data, size_t size, const rf_image_desc *desc, int copy,
                       int threaded)
{
    rf_image_job_free(j);
    rf_err_clear(&j->err);
    j->rc = RAIIAF_OK;
    j->data = data;
    j->size = size;
    if (copy && size) {
        if (rf_bigbuf_alloc(&j->copy_buf, size))
            return rf_fail(&j->err, RAIIAF_E_NOMEM, "out of memory copying the %zu-byte image", size);
        j->copy = j->copy_buf.p;
        memcpy(j->copy, data, size);
        j->data = j->copy;
    }
    j->probed = desc != NULL;
    if (desc) j->desc = *desc;
    if (threaded && pthread_create(&j->th, NULL, run, j) == 0) {
        j->state = 1;
        return RAIIAF_OK;
    }
    run(j); /* no thread to be had: check now, report at the same point */
    j->state = 2;
    return RAIIAF_OK;
}

int rf_image_job_wait(rf_image_job *j)
{
    if (j->state == 1) {
        pthread_join(j->th, NULL);
        j->state = 2;
    }
    return j->state ? j->rc : RAIIAF_OK;
}

void rf_image_job_free(rf_image_job *j)
{
    rf_image_job_wait(j);
    rf_bigbuf_free(&j->copy_buf);
    j->copy = NULL;
    j->state = 0;
}
