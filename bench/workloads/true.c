/*
 * true: does nothing and exits 0. Run to exit under each runtime, its
 * wall-clock time is the runtime's cold start (container set-up, the
 * program's exec and teardown).
 */
int main(void)
{
	return 0;
}
