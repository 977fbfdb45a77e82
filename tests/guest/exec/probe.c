/*
 * Native oracle for the bad-executable scenarios: execve(argv[2]) and print
 * the errno the host kernel gives ("errno ENOEXEC"). Run natively only: the
 * point is to learn what Linux says about each file, not to test exec.
 */
#include "check.h"

int main(int argc, char **argv)
{
    begin(argc, argv);
    if (argc < 3)
        return 2;
    char *args[] = {argv[2], NULL};
    char *env[] = {NULL};
    execve(argv[2], args, env);
    printf("errno %s\n", errname(errno));
    return 0;
}
