from rnntag.cli import main

main()
