from lifeline.cli.main import main

main()
