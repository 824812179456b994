from fabro.cli import main

main()
