/* Hello world through the C library's stdio: the C start-up code (TLS, stdio buffers,
 * atexit flushing) must work on the kernel. */
#include <stdio.h>

int main(void)
{
    printf("hello, world\n");
    return 0;
}
