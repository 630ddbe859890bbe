/* trivial.c -- the baseline of bench_info: a C program that does nothing,
 * so its run time is the cost of starting and ending a process. */
int main(void) { return 0; }
