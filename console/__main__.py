from console.cli.app import main

main()
