/* main.c - placeholder entry point; replaced by the CLI. */
#include <stdio.h>
int main(void)
{
    fputs("dumpscan: not yet built\n", stderr);
    return 2;
}
