/*
 * The smallest good program: the control case of the bad-executable
 * scenarios, and the source of the truncated and non-executable copies in
 * /bad.
 */
#include <stdio.h>

int main(void)
{
    puts("hello from a static guest");
    return 0;
}
