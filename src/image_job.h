/* image_job.h -- checking an image on a second thread (image_job.c).
 *
 * The writer and the verifier start the image check, do their tensor work
 * (hashing, coding) on the calling thread, and collect the image's verdict
 * at a fixed point afterwards, so which error is reported, and when, never
 * depends on which thread finished first. */
#ifndef RAIIAF_IMAGE_JOB_H
#define RAIIAF_IMAGE_JOB_H

#include "internal.h"
#include "bigbuf.h"

#include <pthread.h>

typedef struct rf_image_job {
    int state;                 /* 0 idle, 1 running on a thread, 2 done */
    pthread_t th;
    const unsigned char *data; /* what is checked: the caller's bytes or `copy` */
    size_t size;
    unsigned char *copy;       /* owned: the caller's bytes may go away first */
    rf_bigbuf copy_buf;        /* where `copy` lives */
    int probed;                /* desc holds rf_image_probe()'s result: check the pixels only */
    rf_image_desc desc;
    rf_err err;
    int rc;
} rf_image_job;

/* Starts the check of `data`: rf_image_check_pixels() against `desc` when
 * it is given (the structure was probed already), else the whole
 * rf_image_validate().  `copy`: take a private copy first.  `threaded`: on
 * a new thread; if none can be started (or threaded is 0), the check runs
 * now and the verdict waits all the same.  Returns RAIIAF_OK, or
 * RAIIAF_E_NOMEM if the copy could not be made (nothing started). */
int rf_image_job_start(rf_image_job *j, const void *data, size_t size, const rf_image_desc *desc, int copy,
                       int threaded);
/* Waits for the check and returns its result (RAIIAF_OK when nothing was
 * started); the message is in j->err, the image's size in j->desc.  May be
 * called again: it returns the same verdict. */
int rf_image_job_wait(rf_image_job *j);
/* Waits if needed and frees the copy.  The job is idle again. */
void rf_image_job_free(rf_image_job *j);

#endif
